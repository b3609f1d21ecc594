cimport cython

# Declarations for the compiled build only (Cython reads this beside engine.py; CPython ignores it).
# _Checker becomes an extension type whose fields are C slots: typed dicts and lists are read
# without an attribute lookup. Every field engine.py assigns must be listed here.

# A field missing here is an AttributeError in the compiled build only; tests/test_build.py's parity
# run and CI (which tests the installed, compiled package) catch that.

cdef class _Checker:
    cdef public object index, patient
    cdef public dict uses, pair_keys, previous_uses, subjects
    cdef public set with_strength
    cdef public list drugs, findings, context_needed

    # The pair section is over half of a check: its memo rows and lists are plain dicts and lists
    # (not index.rule_static, a lazy mapping; not `winners`, a defaultdict whose __missing__ must run).
    @cython.locals(outcomes=dict, row=dict, uses=dict, keys=dict, keyed=list, findings=list, i=Py_ssize_t)
    cpdef pairs(self)
