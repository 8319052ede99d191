# Confab staging: an EKS cluster, PostgreSQL, Redis and the monitoring stack.
# The VPC is an input (most organisations have one already). Apply with:
#   terraform init && terraform apply -var-file=staging.tfvars
# then deploy the services: kubectl apply -k infrastructure/kubernetes/overlays/staging

locals {
  name = "confab-staging"
  tags = {
    project     = "confab"
    environment = "staging"
    managed-by  = "terraform"
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = local.tags
  }
}

module "cluster" {
  source = "../../modules/kubernetes-cluster"

  name                = local.name
  subnet_ids          = var.private_subnet_ids
  public_api_endpoint = false
  node_instance_types = ["t3.large"]
  node_min            = 2
  node_max            = 4
  tags                = local.tags
}

module "postgres" {
  source = "../../modules/postgres"

  name                       = local.name
  vpc_id                     = var.vpc_id
  subnet_ids                 = var.private_subnet_ids
  allowed_security_group_ids = [module.cluster.node_security_group_id]
  instance_class             = "db.t4g.medium"
  multi_az                   = false
  backup_retention_days      = 7
  deletion_protection        = true
  tags                       = local.tags
}

module "redis" {
  source = "../../modules/redis"

  name                       = local.name
  vpc_id                     = var.vpc_id
  subnet_ids                 = var.private_subnet_ids
  allowed_security_group_ids = [module.cluster.node_security_group_id]
  node_type                  = "cache.t4g.small"
  replicas                   = 1
  tags                       = local.tags
}

data "aws_eks_cluster_auth" "this" {
  name = module.cluster.name
}

provider "kubernetes" {
  host                   = module.cluster.endpoint
  cluster_ca_certificate = base64decode(module.cluster.certificate_authority)
  token                  = data.aws_eks_cluster_auth.this.token
}

provider "helm" {
  kubernetes = {
    host                   = module.cluster.endpoint
    cluster_ca_certificate = base64decode(module.cluster.certificate_authority)
    token                  = data.aws_eks_cluster_auth.this.token
  }
}

module "nats" {
  source = "../../modules/nats"

  replicas     = 3
  storage_size = "10Gi"
}

module "monitoring" {
  source = "../../modules/monitoring"

  confab_namespace       = "confab-staging"
  grafana_admin_password = var.grafana_admin_password
}
