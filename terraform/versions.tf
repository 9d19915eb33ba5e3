terraform {
  # 1.5: `check` blocks and the `import` block era; nothing newer is needed.
  required_version = ">= 1.5"

  required_providers {
    google = {
      source = "hashicorp/google"
      # >= 6.11 (which satisfies ">= 5"): `deletion_protection` exists on
      # google_cloud_run_v2_service (6.0) and google_workflows_workflow (6.11),
      # both defaulting to true; this module sets it false on both so that
      # `terraform destroy` (scripts/smoke.sh --gcp) can tear the stack down.
      version = ">= 6.11, < 8.0"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}
