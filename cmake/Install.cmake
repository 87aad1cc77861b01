# Install layout (GNU): programs operators run in bin/, the workers only the
# supervisor starts in libexec/wa-supervisor/ (found relative to wa-supervisor,
# see build_info.hpp), the systemd unit, an example configuration and man
# pages made from each program's --help. CPack turns it into a .deb.
include(GNUInstallDirs)

install(TARGETS wa-supervisor wactl wa-http wa-webhooks wa-store-migrate RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# wa-http's dashboard (static files), found relative to bin/ like the workers.
if(EXISTS ${PROJECT_SOURCE_DIR}/http/dashboard)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/http/dashboard/ DESTINATION ${CMAKE_INSTALL_DATADIR}/wa-supervisor/dashboard)
endif()
install(TARGETS wa-connection wa-sender wa-probe RUNTIME DESTINATION ${CMAKE_INSTALL_LIBEXECDIR}/wa-supervisor)
if(TARGET wa-testserver)
  install(TARGETS wa-testserver wa-inspect RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
install(FILES ${PROJECT_SOURCE_DIR}/packaging/config.json DESTINATION ${CMAKE_INSTALL_DATADIR}/wa-supervisor)
install(FILES README.md docs/ARCHITECTURE.md docs/PROTOCOL.md LICENSE DESTINATION ${CMAKE_INSTALL_DOCDIR})

# The unit names the installed supervisor: filled in at install time, when
# CMAKE_INSTALL_PREFIX is the one in use (CPack installs under /usr).
install(CODE "set(WA_UNIT_IN \"${PROJECT_SOURCE_DIR}/packaging/wa-supervisor.service.in\")
              set(WA_BINDIR_REL \"${CMAKE_INSTALL_BINDIR}\")")
install(CODE [[
  set(BINDIR "${CMAKE_INSTALL_PREFIX}/${WA_BINDIR_REL}")
  set(unit "$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}/lib/systemd/system/wa-supervisor.service")
  configure_file("${WA_UNIT_IN}" "${unit}" @ONLY)
  message(STATUS "Installing: ${unit}")
  # The webhook deliverer's unit, beside it.
  string(REPLACE "wa-supervisor.service" "wa-webhooks.service" webhooks_unit "${unit}")
  string(REPLACE "wa-supervisor.service.in" "wa-webhooks.service.in" webhooks_in "${WA_UNIT_IN}")
  configure_file("${webhooks_in}" "${webhooks_unit}" @ONLY)
  message(STATUS "Installing: ${webhooks_unit}")
  string(REPLACE "wa-supervisor.service.in" "wa-http.service.in" http_in "${WA_UNIT_IN}")
  set(http_unit "$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}/lib/systemd/system/wa-http.service")
  configure_file("${http_in}" "${http_unit}" @ONLY)
  message(STATUS "Installing: ${http_unit}")
]])

# Man pages from --help and --version (help2man), for the programs people run.
find_program(HELP2MAN help2man)
if(HELP2MAN)
  set(man_pages)
  foreach(prog wa-supervisor wactl wa-http wa-webhooks wa-store-migrate wa-testserver)
    if(TARGET ${prog})
      set(page ${CMAKE_BINARY_DIR}/man/${prog}.1)
      add_custom_command(OUTPUT ${page}
        COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man
        COMMAND ${HELP2MAN} --no-info --no-discard-stderr --output=${page} $<TARGET_FILE:${prog}>
        DEPENDS ${prog} VERBATIM)
      list(APPEND man_pages ${page})
    endif()
  endforeach()
  add_custom_target(man ALL DEPENDS ${man_pages})
  install(FILES ${man_pages} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME wa-supervisor)
set(CPACK_PACKAGE_VENDOR "wa-supervisor maintainers")
set(CPACK_PACKAGE_CONTACT "wa-supervisor maintainers <maintainers@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Keeps many WhatsApp Web multi-device accounts connected, one process tree each")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# libpq5: loaded with dlopen by the PostgreSQL store (protocol/store/src/libpq.hpp),
# so dpkg-shlibdeps cannot see it; a SQLite-only host needs nothing more.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "libpq5")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/postinst ${PROJECT_SOURCE_DIR}/packaging/prerm ${PROJECT_SOURCE_DIR}/packaging/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)
include(CPack)
