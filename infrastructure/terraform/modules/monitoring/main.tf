# Prometheus, Alertmanager and Grafana (kube-prometheus-stack) and Loki in
# the "monitoring" namespace, with Confab's alert rules and dashboard from
# infrastructure/monitoring, the same files docker-compose mounts.

locals {
  monitoring_dir = "${path.module}/../../../monitoring"
  alert_rules    = yamldecode(file("${local.monitoring_dir}/prometheus/alerts.yml"))
}

resource "kubernetes_namespace_v1" "monitoring" {
  metadata {
    name = "monitoring"
  }
}

resource "helm_release" "kube_prometheus_stack" {
  name       = "kube-prometheus-stack"
  namespace  = kubernetes_namespace_v1.monitoring.metadata[0].name
  repository = "https://prometheus-community.github.io/helm-charts"
  chart      = "kube-prometheus-stack"
  version    = var.kube_prometheus_stack_version

  values = [yamlencode({
    prometheus = {
      prometheusSpec = {
        retention = var.retention
        # Confab pods carry prometheus.io/scrape annotations (kubernetes/base).
        additionalScrapeConfigs = [{
          job_name = "confab"
          kubernetes_sd_configs = [{
            role       = "pod"
            namespaces = { names = [var.confab_namespace] }
          }]
          relabel_configs = [
            {
              source_labels = ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"]
              action        = "keep"
              regex         = "true"
            },
            {
              source_labels = ["__address__", "__meta_kubernetes_pod_annotation_prometheus_io_port"]
              action        = "replace"
              regex         = "([^:]+)(?::\\d+)?;(\\d+)"
              replacement   = "$1:$2"
              target_label  = "__address__"
            },
            {
              source_labels = ["__meta_kubernetes_pod_label_app_kubernetes_io_name"]
              target_label  = "job"
            },
          ]
        }]
      }
    }
    grafana = {
      adminPassword = var.grafana_admin_password
      sidecar = {
        dashboards = { enabled = true, searchNamespace = "ALL" }
      }
      additionalDataSources = [{
        name   = "Loki"
        uid    = "loki"
        type   = "loki"
        access = "proxy"
        url    = "http://loki.${kubernetes_namespace_v1.monitoring.metadata[0].name}.svc:3100"
      }]
    }
    alertmanager = {
      config = var.alertmanager_config
    }
  })]
}

resource "kubernetes_manifest" "confab_alerts" {
  manifest = {
    apiVersion = "monitoring.coreos.com/v1"
    kind       = "PrometheusRule"
    metadata = {
      name      = "confab"
      namespace = kubernetes_namespace_v1.monitoring.metadata[0].name
      labels    = { release = helm_release.kube_prometheus_stack.name }
    }
    spec = local.alert_rules
  }
}

resource "kubernetes_config_map_v1" "confab_dashboard" {
  metadata {
    name      = "confab-dashboard"
    namespace = kubernetes_namespace_v1.monitoring.metadata[0].name
    labels    = { grafana_dashboard = "1" }
  }

  data = {
    "confab.json" = file("${local.monitoring_dir}/grafana/dashboards/confab.json")
  }
}

resource "helm_release" "loki" {
  name       = "loki"
  namespace  = kubernetes_namespace_v1.monitoring.metadata[0].name
  repository = "https://grafana.github.io/helm-charts"
  chart      = "loki"
  version    = var.loki_version

  values = [yamlencode({
    deploymentMode = "SingleBinary"
    loki = {
      auth_enabled = false
      commonConfig = { replication_factor = 1 }
      storage      = { type = "filesystem" }
      schemaConfig = {
        configs = [{
          from         = "2026-01-01"
          store        = "tsdb"
          object_store = "filesystem"
          schema       = "v13"
          index        = { prefix = "index_", period = "24h" }
        }]
      }
      limits_config = { retention_period = var.retention }
    }
    singleBinary = { replicas = 1 }
    read         = { replicas = 0 }
    write        = { replicas = 0 }
    backend      = { replicas = 0 }
  })]
}
