locals {
  apis = toset([
    "run.googleapis.com",
    "workflows.googleapis.com",
    "workflowexecutions.googleapis.com",
    "storage.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "iam.googleapis.com",
    "secretmanager.googleapis.com",
  ])
}

resource "google_project_service" "apis" {
  for_each = local.apis

  project = var.project_id
  service = each.value
  # Leave the APIs on at destroy: other things in the project may use them.
  disable_on_destroy = false
}

data "google_project" "this" {
  project_id = var.project_id
}
