variable "region" {
  description = "AWS region."
  type        = string
}

variable "vpc_id" {
  description = "Existing VPC."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets in at least two availability zones."
  type        = list(string)
}

variable "grafana_admin_password" {
  description = "Grafana admin password (pass with TF_VAR_grafana_admin_password)."
  type        = string
  sensitive   = true
}
