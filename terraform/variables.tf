variable "project_id" {
  description = "Google Cloud project to deploy framerun into."
  type        = string
}

variable "region" {
  description = "Region for the Cloud Run service, the workflow and the render bucket."
  type        = string
  default     = "us-central1"
}

variable "name_prefix" {
  description = "Prefix for every resource name (service, workflow, service accounts, bucket). Lowercase letters, digits and hyphens; at most 20 characters so service-account ids fit."
  type        = string
  default     = "framerun"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,19}$", var.name_prefix))
    error_message = "name_prefix must start with a letter, use only a-z, 0-9 and '-', and be at most 20 characters."
  }
}

variable "image" {
  description = "Container image of the render service, built from the repository's Dockerfile (e.g. us-central1-docker.pkg.dev/PROJECT/framerun/framerun:TAG)."
  type        = string
}

variable "cpu" {
  description = "vCPUs per Cloud Run instance, a whole number: each draws one page of a chunk."
  type        = string
  default     = "4"
  validation {
    condition     = can(regex("^[1-9][0-9]*$", var.cpu))
    error_message = "cpu must be a whole number of vCPUs such as \"4\" (one page of a chunk per vCPU)."
  }
}

variable "memory" {
  description = "Memory per Cloud Run instance (a Cloud Run memory limit string)."
  type        = string
  default     = "8Gi"
}

variable "max_instance_count" {
  description = "Upper bound on Cloud Run instances. Each instance renders one chunk at a time, so this caps parallel chunks (and spend): raise it with maxParallelChunks (up to 400)."
  type        = number
  default     = 20
}

variable "min_instances" {
  description = "Cloud Run instances kept warm while no render runs. 0 (the default) scales to zero and costs nothing idle, but a render's first chunks each wait for a cold start (about 5 s for the platform plus about 1 s for the service and its browser). Each warm instance is billed at Cloud Run's idle rate, about $79 a month at 4 vCPU / 8 GiB (docs/deploy-gcp.md, Cold start), and saves the cold start of one chunk only: fan-out still starts the rest cold."
  type        = number
  default     = 0

  validation {
    condition     = var.min_instances >= 0 && floor(var.min_instances) == var.min_instances
    error_message = "min_instances must be a whole number ≥ 0 (0 scales to zero when idle)."
  }
}

variable "request_timeout_seconds" {
  description = "Cloud Run request timeout in seconds (also passed to the container as FRAMERUN_REQUEST_TIMEOUT_S). 3600 is Cloud Run's maximum."
  type        = number
  default     = 3600

  validation {
    condition     = var.request_timeout_seconds >= 60 && var.request_timeout_seconds <= 3600
    error_message = "request_timeout_seconds must be between 60 and 3600."
  }
}

variable "chunk_retention_days" {
  description = "Days after which intermediate chunk objects (renders/<id>/chunks/NNNNN.mp4|.json) are deleted by the bucket lifecycle rule."
  type        = number
  default     = 7
}

variable "bucket_force_destroy" {
  description = "Let `terraform destroy` delete the render bucket even when it still holds objects (renders and outputs are lost)."
  type        = bool
  default     = false
}

variable "runaway_request_threshold" {
  description = "Alert when the render service receives more than this many requests in 5 minutes (a runaway caller or retry loop)."
  type        = number
  default     = 2000
}

variable "notification_channels" {
  description = "Cloud Monitoring notification channel ids (projects/P/notificationChannels/N) for the runaway-request alert; empty records incidents without notifying."
  type        = list(string)
  default     = []
}

variable "caller_members" {
  description = "IAM members (e.g. user:alice@example.com, serviceAccount:ci@P.iam.gserviceaccount.com) allowed to start render executions and write requests and sites to the bucket."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.caller_members : !contains(["allUsers", "allAuthenticatedUsers"], m)])
    error_message = "caller_members must name identities: allUsers and allAuthenticatedUsers are refused."
  }
}

variable "webhook_secret" {
  description = "HMAC secret that signs completion webhooks. Stored in Secret Manager and mounted as FRAMERUN_WEBHOOK_SECRET; empty disables webhook signing (and creates no secret)."
  type        = string
  default     = ""
  sensitive   = true
}
