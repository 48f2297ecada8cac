"""Operations: doctor, health, retention, recordings, the scaffold, the bundled mock portals."""
