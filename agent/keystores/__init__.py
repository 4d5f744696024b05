"""Key stores: PKCS#11 tokens, PKCS#12 files and OS stores behind one interface."""
