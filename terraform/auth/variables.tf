variable "project_id" {
  description = "The GCP project of the Artifact Registry repository."
  type        = string
}

variable "region" {
  description = "Region of the Artifact Registry repository."
  type        = string
}

variable "github_repository" {
  description = "The only GitHub repository whose workflows may authenticate, as owner/name."
  type        = string
}

variable "github_ref" {
  description = "The only git ref allowed to push images (the model workflow is run by hand from it)."
  type        = string
  default     = "refs/heads/main"
}

variable "gar_repo" {
  description = "The Artifact Registry repository the model workflow pushes to (created by ../)."
  type        = string
  default     = "ecomm"
}

variable "pool_id" {
  description = "Workload Identity Pool id."
  type        = string
  default     = "github-actions"
}

variable "provider_id" {
  description = "Workload Identity Pool provider id."
  type        = string
  default     = "github-oidc"
}
