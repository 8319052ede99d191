output "namespace" {
  description = "Namespace of the monitoring stack."
  value       = kubernetes_namespace_v1.monitoring.metadata[0].name
}
