# Where `cmake --install` puts things; shared by packaging/ and its test.
# With -DCMAKE_INSTALL_PREFIX=/usr: /usr/bin, /etc/quotamilter, /usr/lib/systemd/system.
include(GNUInstallDirs)
set(QM_BINDIR ${CMAKE_INSTALL_FULL_BINDIR})
set(QM_SYSCONFDIR ${CMAKE_INSTALL_FULL_SYSCONFDIR}/quotamilter)
set(QM_DOCDIR ${CMAKE_INSTALL_FULL_DOCDIR})
set(QM_DATADIR ${CMAKE_INSTALL_FULL_DATADIR}/quotamilter)
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(QM_UNITDIR /usr/lib/systemd/system)
  set(QM_SYSUSERSDIR /usr/lib/sysusers.d)
else()
  set(QM_UNITDIR ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
  set(QM_SYSUSERSDIR ${CMAKE_INSTALL_PREFIX}/lib/sysusers.d)
endif()
