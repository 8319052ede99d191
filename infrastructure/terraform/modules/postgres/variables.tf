variable "name" {
  description = "Prefix for every resource, e.g. confab-production."
  type        = string
}

variable "vpc_id" {
  description = "VPC the database lives in."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets, at least two availability zones."
  type        = list(string)
}

variable "allowed_security_group_ids" {
  description = "Security groups (the cluster nodes) that may connect on 5432."
  type        = list(string)
}

variable "engine_version" {
  description = "PostgreSQL major.minor."
  type        = string
  default     = "17.5"
}

variable "instance_class" {
  description = "Instance size."
  type        = string
  default     = "db.t4g.medium"
}

variable "allocated_storage_gb" {
  description = "Initial storage."
  type        = number
  default     = 20
}

variable "max_allocated_storage_gb" {
  description = "Storage autoscaling ceiling."
  type        = number
  default     = 200
}

variable "multi_az" {
  description = "A synchronous standby in a second zone (production)."
  type        = bool
  default     = false
}

variable "backup_retention_days" {
  description = "Days of automated backups and point-in-time recovery."
  type        = number
  default     = 7
}

variable "deletion_protection" {
  description = "Refuse deletion and take a final snapshot (staging, production)."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
