output "address" {
  description = "Host name of the database."
  value       = aws_db_instance.this.address
}

output "port" {
  description = "Port of the database."
  value       = aws_db_instance.this.port
}

output "database" {
  description = "Database name: DATABASE_URL is postgres://confab:<password>@<address>:<port>/<database>."
  value       = aws_db_instance.this.db_name
}

output "master_user_secret_arn" {
  description = "Secrets Manager secret holding the generated password (feed it to confab-secrets)."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}
