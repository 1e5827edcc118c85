# A stand-in network built from Terraform's built-in terraform_data resource (no provider
# download, no cloud account), so the quickstart runs anywhere Terraform runs.
variable "cidr" { type = string }
variable "zones" { type = list(string) }
variable "owner" {
  type    = string
  default = "nobody"
}

resource "terraform_data" "vpc" {
  input = { cidr = var.cidr, owner = var.owner }
}

output "vpc_id" {
  value = "vpc-${substr(terraform_data.vpc.id, 0, 8)}"
}

output "zones" {
  value = var.zones
}

output "cidr" {
  value = terraform_data.vpc.output.cidr
}

# Sensitive: masked in every log, encrypted at rest, shown only with `terrace outputs --reveal`.
output "admin_token" {
  value     = "adm-${terraform_data.vpc.id}"
  sensitive = true
}
