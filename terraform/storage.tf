locals {
  bucket_name = "${var.project_id}-${var.name_prefix}-renders"

  # Which objects the lifecycle rule deletes. GCS lifecycle conditions only match
  # a key's start (matches_prefix) and end (matches_suffix); they cannot express
  # "renders/*/chunks/*". Chunk keys are renders/<id>/chunks/NNNNN.mp4 and
  # renders/<id>/chunks/NNNNN.json (five digits, service/framerun_service/protocol.py), so the
  # rule targets keys under renders/ that end in "<digit>.mp4" or "<digit>.json".
  # That keeps:
  #   - the default output renders/<id>/output.mp4 (ends in "t.mp4"),
  #   - plan.json, request.json and result.json (end in a letter + ".json"),
  #   - sites/ and any output key outside renders/.
  # Caveat (README): a caller-chosen output key under renders/ whose name ends in
  # a digit before .mp4 (renders/take2.mp4) would match too, so put custom
  # outputs outside renders/ (e.g. videos/intro.mp4).
  # Written out (not generated) so tests/infra/test_terraform.py can evaluate it.
  chunk_suffixes = [
    "0.mp4", "1.mp4", "2.mp4", "3.mp4", "4.mp4", "5.mp4", "6.mp4", "7.mp4", "8.mp4", "9.mp4",
    "0.json", "1.json", "2.json", "3.json", "4.json", "5.json", "6.json", "7.json", "8.json", "9.json",
  ]
}

resource "google_storage_bucket" "renders" {
  #checkov:skip=CKV_GCP_62:Access logs would go to a second bucket; Cloud Audit Logs (data access) cover this bucket when the project enables them.
  #checkov:skip=CKV_GCP_78:Versioning is off on purpose: every write is create-only (ifGenerationMatch=0), and noncurrent chunk versions would defeat the lifecycle rule.
  name          = local.bucket_name
  project       = var.project_id
  location      = var.region
  storage_class = "STANDARD"
  force_destroy = var.bucket_force_destroy

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  versioning {
    enabled = false
  }

  # Delete intermediate chunks after var.chunk_retention_days; final outputs are kept.
  lifecycle_rule {
    condition {
      age            = var.chunk_retention_days
      matches_prefix = ["renders/"]
      matches_suffix = local.chunk_suffixes
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.apis]
}
