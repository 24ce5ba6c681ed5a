"""Live collection: one batched PowerShell run per host over WinRM, plus LDAP and DNS read by the tool."""
