terraform {
  required_version = ">= 1.10" # use_lockfile in the S3 backend

  # State per environment; the bucket and lock table exist before the first apply.
  backend "s3" {
    bucket       = "confab-terraform-state"
    key          = "dev/terraform.tfstate"
    region       = "eu-central-1"
    encrypt      = true
    use_lockfile = true
  }

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
    helm = {
      source  = "hashicorp/helm"
      version = "~> 3.0"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "~> 2.38"
    }
  }
}
