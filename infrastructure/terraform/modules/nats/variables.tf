variable "replicas" {
  description = "NATS servers; 3 lets JetStream keep a quorum through one failure."
  type        = number
  default     = 3
}

variable "storage_size" {
  description = "JetStream file store per server."
  type        = string
  default     = "10Gi"
}

variable "chart_version" {
  description = "Chart version of nats-io/nats."
  type        = string
  default     = "1.3.7"
}
