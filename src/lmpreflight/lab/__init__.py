"""The lab: loopback stand-ins for Windows hosts (WS-Management), DNS and Active Directory (LDAP),
driven by scenario files. It powers ``lmpreflight demo``, ``lmpreflight lab`` and the tests.

Only what is Windows is simulated; lmpreflight's own collection code talks to it unchanged.
"""
