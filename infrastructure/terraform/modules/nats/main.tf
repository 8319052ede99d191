# NATS JetStream for the event bus: a three-node cluster (stream CONFAB is
# created by the services, replicated by JetStream) in the "nats" namespace,
# reachable as nats://nats.nats.svc:4222, the NATS_URL the staging and
# production overlays use.

resource "kubernetes_namespace_v1" "nats" {
  metadata {
    name = "nats"
  }
}

resource "helm_release" "nats" {
  name       = "nats"
  namespace  = kubernetes_namespace_v1.nats.metadata[0].name
  repository = "https://nats-io.github.io/k8s/helm/charts/"
  chart      = "nats"
  version    = var.chart_version

  values = [yamlencode({
    config = {
      cluster = {
        enabled  = true
        replicas = var.replicas
      }
      jetstream = {
        enabled = true
        fileStore = {
          pvc = { size = var.storage_size }
        }
        # fsync before acknowledging, as infrastructure/nats/nats.conf: the default
        # (every 2 minutes) can lose acknowledged events on power loss.
        merge = {
          sync_interval = "always"
        }
      }
    }
    podTemplate = {
      topologySpreadConstraints = {
        "kubernetes.io/hostname" = {
          maxSkew           = 1
          whenUnsatisfiable = "DoNotSchedule"
        }
      }
    }
  })]
}
