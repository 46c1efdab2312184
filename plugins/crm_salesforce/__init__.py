"""The ``crm_salesforce`` plugin.

Registered through the ``attain`` entry-point group like any partner plugin. Its capability is
tracked in its own issue; until then it implements no hook, so loading it changes nothing.
"""
