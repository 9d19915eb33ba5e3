locals {
  service_name = "${var.name_prefix}-render"

  # The service's deterministic URL (https://SERVICE-PROJECT_NUMBER.REGION.run.app).
  # The container must know its own URL (FRAMERUN_AUTH_AUDIENCES: the service
  # checks every ID token's audience against it), and a resource cannot read its
  # own `uri` attribute, so the URL is built from inputs. The workflow uses the
  # same URL as both the target and the token audience, and it is the
  # `service_url` output.
  service_url = "https://${local.service_name}-${data.google_project.this.number}.${var.region}.run.app"
}

resource "google_cloud_run_v2_service" "renderer" {
  name     = local.service_name
  project  = var.project_id
  location = var.region

  # Cloud Workflows calls the service from Google's network, not from a VPC, so
  # "internal" ingress would block it: ingress is ALL and access is controlled by
  # IAM (roles/run.invoker for the workflow's service account only; no allUsers
  # or allAuthenticatedUsers) plus the service's own ID-token check
  # (FRAMERUN_AUTH_AUDIENCES / FRAMERUN_AUTH_ALLOWED_INVOKERS).
  ingress = "INGRESS_TRAFFIC_ALL"

  # Lets `terraform destroy` remove the service (the provider defaults to true).
  deletion_protection = false

  template {
    service_account       = google_service_account.renderer.email
    execution_environment = "EXECUTION_ENVIRONMENT_GEN2"
    timeout               = "${var.request_timeout_seconds}s"

    # One chunk per instance at a time (gunicorn runs one worker, one thread).
    max_instance_request_concurrency = 1

    scaling {
      min_instance_count = var.min_instances
      max_instance_count = var.max_instance_count
    }

    containers {
      image = var.image

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = var.cpu
          memory = var.memory
        }
        startup_cpu_boost = true
      }

      env {
        name  = "FRAMERUN_RENDER_BUCKET"
        value = google_storage_bucket.renders.name
      }
      env {
        name  = "FRAMERUN_AUTH_AUDIENCES"
        value = local.service_url
      }
      env {
        name  = "FRAMERUN_AUTH_ALLOWED_INVOKERS"
        value = google_service_account.invoker.email
      }
      # One page per vCPU draws each chunk (render/chunk.py): the container may see the
      # host's cores, so the service is told how many it was given.
      env {
        name  = "FRAMERUN_CHUNK_PAGES"
        value = var.cpu
      }
      # A plan may not ask for more chunks at once than there are instances.
      env {
        name  = "FRAMERUN_MAX_INSTANCES"
        value = tostring(var.max_instance_count)
      }
      env {
        name  = "FRAMERUN_REQUEST_TIMEOUT_S"
        value = tostring(var.request_timeout_seconds)
      }

      dynamic "env" {
        for_each = local.webhook_secret_enabled ? [1] : []
        content {
          name = "FRAMERUN_WEBHOOK_SECRET"
          value_source {
            secret_key_ref {
              secret  = google_secret_manager_secret.webhook[0].secret_id
              version = "latest"
            }
          }
        }
      }

      startup_probe {
        http_get {
          path = "/healthz"
        }
        period_seconds    = 5
        failure_threshold = 24
      }
    }
  }

  lifecycle {
    # A variable's validation may not name another variable before Terraform 1.9.
    precondition {
      condition     = var.min_instances <= var.max_instance_count
      error_message = "min_instances must not exceed max_instance_count; lower min_instances or raise max_instance_count."
    }
  }

  depends_on = [
    google_project_service.apis,
    google_storage_bucket_iam_member.renderer_objects,
    google_secret_manager_secret_iam_member.renderer_webhook,
    google_secret_manager_secret_version.webhook,
  ]
}
