"""Reference tables that the wire contract checks against, each with its source and date.

They are Python modules, not data files read at run time: ``schemas`` stays free of I/O,
the tables ship with the package like any other module, and a change to one shows up
in review as a diff of the table itself.
"""
