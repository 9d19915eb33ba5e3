resource "google_workflows_workflow" "render" {
  name            = "${var.name_prefix}-render"
  project         = var.project_id
  region          = var.region
  description     = "framerun: plan -> parallel renderChunk -> assemble on the render service."
  service_account = google_service_account.invoker.id
  call_log_level  = "LOG_ERRORS_ONLY"

  # Lets `terraform destroy` remove the workflow (the provider defaults to true).
  deletion_protection = false

  # The repository's workflow, unchanged; it reads the service URL from here
  # with sys.get_env("FRAMERUN_SERVICE_URL") and uses it as the OIDC audience.
  source_contents = file("${path.module}/../workflows/render.yaml")

  user_env_vars = {
    FRAMERUN_SERVICE_URL = local.service_url
  }

  depends_on = [
    google_project_service.apis,
    google_cloud_run_v2_service.renderer,
    google_cloud_run_v2_service_iam_member.invoker_run,
    google_project_iam_member.invoker_logs,
  ]
}
