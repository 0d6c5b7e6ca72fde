# The verification pass runs on a schedule: Cloud Scheduler publishes a tick to the verify
# topic, whose push subscription (pubsub.tf) delivers it to the verify function.

resource "google_cloud_scheduler_job" "verify" {
  project     = var.project_id
  region      = var.region
  name        = "${var.prefix}-verify"
  description = "Checks that pullfix's fixes worked (one Cloud Logging query per open incident)"
  schedule    = var.verify_schedule
  time_zone   = "Etc/UTC"

  pubsub_target {
    topic_name = google_pubsub_topic.verify.id
    data       = base64encode("{\"pullfix\": \"verify\"}")
  }

  retry_config {
    retry_count = 1
  }

  depends_on = [google_project_service.required]
}
