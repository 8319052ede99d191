variable "name" {
  description = "Cluster name and prefix for every resource."
  type        = string
}

variable "kubernetes_version" {
  description = "EKS Kubernetes version."
  type        = string
  default     = "1.34"
}

variable "subnet_ids" {
  description = "Private subnets for the control plane and the nodes."
  type        = list(string)
}

variable "public_api_endpoint" {
  description = "Expose the Kubernetes API on the internet (dev convenience)."
  type        = bool
  default     = false
}

variable "node_instance_types" {
  description = "Instance types of the default node group."
  type        = list(string)
  default     = ["t3.large"]
}

variable "node_min" {
  description = "Minimum nodes."
  type        = number
  default     = 2
}

variable "node_max" {
  description = "Maximum nodes."
  type        = number
  default     = 6
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
