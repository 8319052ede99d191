output "cluster_name" {
  description = "aws eks update-kubeconfig --name <this>"
  value       = module.cluster.name
}

output "postgres_address" {
  description = "Host for DATABASE_URL."
  value       = module.postgres.address
}

output "postgres_password_secret_arn" {
  description = "Secrets Manager secret with the database password."
  value       = module.postgres.master_user_secret_arn
}

output "redis_url" {
  description = "REDIS_URL for the sync servers."
  value       = module.redis.url
}

output "nats_url" {
  description = "NATS_URL for the services."
  value       = module.nats.url
}
