# Confab dev: an EKS cluster, PostgreSQL, Redis and the monitoring stack.
# The VPC is an input (most organisations have one already). Apply with:
#   terraform init && terraform apply -var-file=dev.tfvars
# then deploy the services: kubectl apply -k infrastructure/kubernetes/overlays/dev

locals {
  name = "confab-dev"
  tags = {
    project     = "confab"
    environment = "dev"
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
  public_api_endpoint = true
  node_instance_types = ["t3.medium"]
  node_min            = 1
  node_max            = 3
  tags                = local.tags
}

module "postgres" {
  source = "../../modules/postgres"

  name                       = local.name
  vpc_id                     = var.vpc_id
  subnet_ids                 = var.private_subnet_ids
  allowed_security_group_ids = [module.cluster.node_security_group_id]
  instance_class             = "db.t4g.small"
  multi_az                   = false
  backup_retention_days      = 1
  deletion_protection        = false
  tags                       = local.tags
}

module "redis" {
  source = "../../modules/redis"

  name                       = local.name
  vpc_id                     = var.vpc_id
  subnet_ids                 = var.private_subnet_ids
  allowed_security_group_ids = [module.cluster.node_security_group_id]
  node_type                  = "cache.t4g.micro"
  replicas                   = 0
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

  replicas     = 1
  storage_size = "5Gi"
}

module "monitoring" {
  source = "../../modules/monitoring"

  confab_namespace       = "confab-dev"
  grafana_admin_password = var.grafana_admin_password
}
