"""Names and numbers Windows defines, which the collector, the checks and their fixes all use.

Each is defined here once: a second copy of a port or a rule name is how a check and the
collector come to look at different things.
"""

MIGRATION_PORT = 6600
"""vmms listens for incoming live migrations on this TCP port."""
SMB_PORT = 445
"""SMB: live migration's transport with the SMB performance option, and storage moves."""
MIGRATION_SERVICE = "Microsoft Virtual System Migration Service"
"""The service class of the SPNs constrained delegation names for live migration."""
FIREWALL_RULE = "Hyper-V (MIG-TCP-In)"
"""The display name of the built-in inbound rule for live migration (TCP 6600, vmms.exe)."""
FIREWALL_RULE_NAME = "VIRT-MIGL-In-TCP-NoScope"
"""The same rule's name, which does not change with the display language."""
