"""OAuth2 sign-in for IMAP and SMTP (Microsoft 365, Google Workspace, any RFC 6749
server): the protocol through Authlib (``flows``), the loopback redirect
(``loopback``), the token sets in the store and their refresh (``tokens``), the
staff notice when one breaks (``notice``), ``mailbot auth login`` (``login``) and
what ``auth status`` shows (``status``).

Nothing is imported here: the configuration and the mail stages import single
modules of this package, and importing the package must not pull in the rest.
"""
