output "url" {
  description = "NATS_URL for the services."
  value       = "nats://nats.${kubernetes_namespace_v1.nats.metadata[0].name}.svc:4222"
}
