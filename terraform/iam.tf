# Two least-privilege service accounts:
#   renderer - the Cloud Run service's identity: objects in the render bucket
#              (and the webhook secret, when one is set), nothing else.
#   invoker  - the workflow's identity: invoke this one Cloud Run service, write
#              its own logs, and start and read child executions of the render
#              workflow (fan-out past 20 chunks in flight).
# No binding in this module names allUsers or allAuthenticatedUsers.

resource "google_service_account" "renderer" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-renderer"
  display_name = "framerun render service (Cloud Run)"

  depends_on = [google_project_service.apis]
}

resource "google_service_account" "invoker" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-invoker"
  display_name = "framerun workflow (calls the render service)"

  depends_on = [google_project_service.apis]
}

# renderer: read and write render objects in THIS bucket only.
resource "google_storage_bucket_iam_member" "renderer_objects" {
  bucket = google_storage_bucket.renders.name
  role   = "roles/storage.objectAdmin"
  member = "serviceAccount:${google_service_account.renderer.email}"
}

# invoker: call THIS service only.
resource "google_cloud_run_v2_service_iam_member" "invoker_run" {
  project  = var.project_id
  location = google_cloud_run_v2_service.renderer.location
  name     = google_cloud_run_v2_service.renderer.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.invoker.email}"
}

# invoker: the workflow's sys.log steps and call logging write as this account.
resource "google_project_iam_member" "invoker_logs" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = "serviceAccount:${google_service_account.invoker.email}"
}

# invoker: past 20 chunks in flight a render starts child executions of its own
# workflow (the executions connector's run) and each child reads its parent's state
# (get). roles/workflows.invoker allows creating, reading and cancelling executions,
# nothing else; project level, since Workflows has no per-workflow IAM resource.
resource "google_project_iam_member" "invoker_child_executions" {
  project = var.project_id
  role    = "roles/workflows.invoker"
  member  = "serviceAccount:${google_service_account.invoker.email}"
}

# Callers (the SDK's identity): start executions and put requests/sites in the
# bucket (and read progress and outputs back). Workflows IAM has no
# per-workflow resource (there is no google_workflows_workflow_iam_*), so
# roles/workflows.invoker is granted at project level: it allows creating
# executions, nothing else.
resource "google_project_iam_member" "caller_workflows" {
  for_each = toset(var.caller_members)

  project = var.project_id
  role    = "roles/workflows.invoker"
  member  = each.value
}

resource "google_storage_bucket_iam_member" "caller_objects" {
  for_each = toset(var.caller_members)

  bucket = google_storage_bucket.renders.name
  role   = "roles/storage.objectUser"
  member = each.value
}
