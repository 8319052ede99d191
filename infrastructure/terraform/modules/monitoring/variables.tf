variable "confab_namespace" {
  description = "Namespace the Confab services run in (scraped by Prometheus)."
  type        = string
}

variable "retention" {
  description = "How long metrics and logs are kept."
  type        = string
  default     = "15d"
}

variable "grafana_admin_password" {
  description = "Grafana admin password."
  type        = string
  sensitive   = true
}

variable "alertmanager_config" {
  description = "Alertmanager configuration (receivers and routes) as an object."
  type        = any
  default = {
    route = {
      receiver = "null"
    }
    receivers = [{ name = "null" }]
  }
}

variable "kube_prometheus_stack_version" {
  description = "Chart version of kube-prometheus-stack."
  type        = string
  default     = "75.15.1"
}

variable "loki_version" {
  description = "Chart version of Loki."
  type        = string
  default     = "6.33.0"
}
