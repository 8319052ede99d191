variable "name" {
  description = "Prefix for every resource."
  type        = string
}

variable "vpc_id" {
  description = "VPC Redis lives in."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets."
  type        = list(string)
}

variable "allowed_security_group_ids" {
  description = "Security groups (the cluster nodes) that may connect on 6379."
  type        = list(string)
}

variable "engine_version" {
  description = "Redis version."
  type        = string
  default     = "7.1"
}

variable "node_type" {
  description = "Node size. Every sync message passes through Redis: size for network, not memory."
  type        = string
  default     = "cache.t4g.small"
}

variable "replicas" {
  description = "Read replicas; at least one enables automatic failover."
  type        = number
  default     = 1
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
