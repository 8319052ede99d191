# Confab production: an EKS cluster, PostgreSQL, Redis and the monitoring stack.
# The VPC is an input (most organisations have one already). Apply with:
#   terraform init && terraform apply -var-file=production.tfvars
# then deploy the services: kubectl apply -k infrastructure/kubernetes/overlays/production

locals {
  name = "confab-production"
  tags = {
    project     = "confab"
    environment = "production"
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
  node_instance_types = ["m7i.large"]
  node_min            = 3
  node_max            = 12
  tags                = local.tags
}

module "postgres" {
  source = "../../modules/postgres"

  name                       = local.name
  vpc_id                     = var.vpc_id
  subnet_ids                 = var.private_subnet_ids
  allowed_security_group_ids = [module.cluster.node_security_group_id]
  instance_class             = "db.m7g.large"
  multi_az                   = true
  backup_retention_days      = 30
  deletion_protection        = true
  tags                       = local.tags
}

module "redis" {
  source = "../../modules/redis"

  name                       = local.name
  vpc_id                     = var.vpc_id
  subnet_ids                 = var.private_subnet_ids
  allowed_security_group_ids = [module.cluster.node_security_group_id]
  node_type                  = "cache.m7g.large"
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
  storage_size = "50Gi"
}

module "monitoring" {
  source = "../../modules/monitoring"

  confab_namespace       = "confab"
  grafana_admin_password = var.grafana_admin_password
}
