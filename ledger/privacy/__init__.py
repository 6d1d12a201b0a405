"""Personal data (PIPL): sealed field by field under a key of its subject's own, found by
blind index, erased by destroying the key. See README, "Personal data"."""

from ledger.privacy.cipher import ERASED, MasterKey
from ledger.privacy.key_tables import MemoryKeyTable, SQLKeyTable
from ledger.privacy.keys import KeyRing
from ledger.privacy.mapper import PersonalDataMapper
from ledger.privacy.master_key import load_master_key

__all__ = [
    "ERASED",
    "KeyRing",
    "MasterKey",
    "MemoryKeyTable",
    "PersonalDataMapper",
    "SQLKeyTable",
    "load_master_key",
]
