# Runaway-request alert: more than var.runaway_request_threshold requests to the
# render service within 5 minutes (a caller in a loop, a retry storm).
resource "google_monitoring_alert_policy" "runaway_requests" {
  project      = var.project_id
  display_name = "${local.service_name}: runaway request count"
  combiner     = "OR"

  conditions {
    display_name = "Requests to ${local.service_name} over ${var.runaway_request_threshold} per 5 min"

    condition_threshold {
      filter          = "metric.type = \"run.googleapis.com/request_count\" AND resource.type = \"cloud_run_revision\" AND resource.label.service_name = \"${google_cloud_run_v2_service.renderer.name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.runaway_request_threshold
      duration        = "0s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.service_name"]
      }

      trigger {
        count = 1
      }
    }
  }

  notification_channels = var.notification_channels

  documentation {
    mime_type = "text/markdown"
    content   = "The framerun render service received more than ${var.runaway_request_threshold} requests in 5 minutes. Check running workflow executions (`gcloud workflows executions list ${google_workflows_workflow.render.name} --location ${var.region}`) and cancel runaway ones."
  }

  depends_on = [google_project_service.apis]
}
