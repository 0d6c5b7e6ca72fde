# The dedupe ledger: a Firestore database of its own, whose records expire by TTL.

resource "google_firestore_database" "ledger" {
  project                           = var.project_id
  name                              = var.ledger.database
  location_id                       = var.ledger.location
  type                              = "FIRESTORE_NATIVE"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = "DELETE_PROTECTION_DISABLED"
  deletion_policy                   = "DELETE"

  depends_on = [google_project_service.required]
}

resource "google_firestore_field" "ledger_ttl" {
  project    = var.project_id
  database   = google_firestore_database.ledger.name
  collection = var.ledger.collection
  field      = "expires_at"

  # Firestore deletes a record once its expires_at has passed.
  ttl_config {}
  # No index on the expiry field: the ledger only reads records by id.
  index_config {}
}

# Incidents pullfix acted on, kept until verification closes them (or their TTL passes).
resource "google_firestore_field" "open_incidents_ttl" {
  project    = var.project_id
  database   = google_firestore_database.ledger.name
  collection = "${var.ledger.collection}-open"
  field      = "expires_at"

  ttl_config {}
  # Verification asks for the least recently checked (ordered by checked_at, which
  # Firestore's automatic single-field index serves); no index on the expiry is read.
  index_config {}
}

# Each incident's outcomes (`pullfix incidents`, `pullfix grants`), kept 90 days after the
# incident's latest outcome.
resource "google_firestore_field" "incident_history_ttl" {
  project    = var.project_id
  database   = google_firestore_database.ledger.name
  collection = "${var.ledger.collection}-history"
  field      = "expires_at"

  ttl_config {}
  # The history is listed by updated_at (the automatic single-field index); never by expiry.
  index_config {}
}
