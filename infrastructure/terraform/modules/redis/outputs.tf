output "url" {
  description = "REDIS_URL for the sync servers (TLS)."
  value       = "rediss://${aws_elasticache_replication_group.this.primary_endpoint_address}:6379"
}
