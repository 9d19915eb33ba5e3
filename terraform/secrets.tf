# The completion-webhook signing secret: created only when var.webhook_secret is
# set, readable by the renderer only. (Its value is also in Terraform state, as
# every secret Terraform writes is: keep the state private.)
locals {
  webhook_secret_enabled = nonsensitive(var.webhook_secret != "")
}

resource "google_secret_manager_secret" "webhook" {
  count = local.webhook_secret_enabled ? 1 : 0

  project   = var.project_id
  secret_id = "${var.name_prefix}-webhook-secret"

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "webhook" {
  count = local.webhook_secret_enabled ? 1 : 0

  secret      = google_secret_manager_secret.webhook[0].id
  secret_data = var.webhook_secret
}

# renderer: read THIS secret only.
resource "google_secret_manager_secret_iam_member" "renderer_webhook" {
  count = local.webhook_secret_enabled ? 1 : 0

  project   = var.project_id
  secret_id = google_secret_manager_secret.webhook[0].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.renderer.email}"
}
