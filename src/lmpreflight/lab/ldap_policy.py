"""Active Directory's default LDAP policy limits, which the lab's DC keeps as a real one does
("View and set LDAP policy in Active Directory by using Ntdsutil.exe", KB 315071; "How LDAP
server cookies are handled", Windows Server documentation). In a module of their own: the DC's
settings and its search handler both read them, and neither imports the other at load time."""

MAX_PAGE_SIZE = 1000
"""MaxPageSize: entries one search, or one page of a paged search, returns."""
MAX_VAL_RANGE = 1500
"""MaxValRange: the values of one attribute a search returns at once."""
MAX_RESULT_SETS_PER_CONNECTION = 10
"""MaxResultSetsPerConn: the paged searches a connection keeps open."""
