output "render_bucket_name" {
  description = "The render bucket: sites/, renders/<id>/… and (by default) outputs."
  value       = google_storage_bucket.renders.name
}

output "service_url" {
  description = "URL of the render service (also the ID-token audience it accepts)."
  value       = local.service_url
}

output "workflow_name" {
  description = "Full resource name of the render workflow (projects/P/locations/R/workflows/W)."
  value       = google_workflows_workflow.render.id
}

output "region" {
  description = "Region of the service, the workflow and the bucket."
  value       = var.region
}
