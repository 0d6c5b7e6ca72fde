# Both example root configurations plan with only the variables their READMEs pass.

mock_provider "google" {}
mock_provider "archive" {}

run "single_project_example_plans" {
  command = plan
  module {
    source = "./examples/single-project"
  }
  variables {
    project_id = "acme-prod"
  }
  assert {
    condition     = output.service_accounts != null
    error_message = "The single-project example plans."
  }
}

run "organization_example_plans" {
  command = plan
  module {
    source = "./examples/organization"
  }
  variables {
    host_project_id     = "acme-ops"
    organization_id     = "123456789012"
    github_repo         = "acme/platform"
    shared_repositories = [{ project = "acme-images", location = "us", repository = "shared" }]
  }
  assert {
    condition     = length(output.custom_roles) == 7
    error_message = "The organization example creates pullfix's seven organization roles."
  }
}
