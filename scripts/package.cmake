# The Debian package (cpack -G DEB): the binary in /usr/sbin, the config as a
# conffile, the systemd unit, man pages, the maintainer scripts that make the
# hepagent system user. Build it with a /usr prefix:
#   cmake -S . -B build-deb -DCMAKE_INSTALL_PREFIX=/usr -DBUILD_TESTING=OFF
#   cmake --build build-deb && (cd build-deb && cpack -G DEB)
set(HEPAGENT_MAINTAINER "hepagent maintainers <hepagent@example.org>"
    CACHE STRING "Maintainer of the Debian package")
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME hepagent)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${HEPAGENT_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "HEPv3 capture agent: SIP to Homer, heplify-server, Kamailio")
# the extended description (CPack puts the summary above it)
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
"hepagent captures SIP from network interfaces or capture files (UDP, TCP,
SIP over WebSocket, SCTP; tunnels and VLANs decoded, IP fragments and TCP
streams reassembled), selects messages with rules and sends them as HEPv3
to one or more collectors over UDP, TCP or TLS, with bounded queues and an
optional disk spool. It runs as its own unprivileged user, as a systemd
service, and serves its counters to Prometheus.")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# libraries from dpkg-shlibdeps; adduser for the maintainer scripts
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_RELEASE 1 CACHE STRING "Debian revision of the package")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_PACKAGING_INSTALL_PREFIX "${CMAKE_INSTALL_PREFIX}")
set(CPACK_STRIP_FILES TRUE)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_CURRENT_SOURCE_DIR}/conf/deb/postinst ${CMAKE_CURRENT_SOURCE_DIR}/conf/deb/prerm
    ${CMAKE_CURRENT_SOURCE_DIR}/conf/deb/postrm ${CMAKE_CURRENT_SOURCE_DIR}/conf/deb/conffiles)

# /usr/share/doc/hepagent: copyright and the changelog lintian wants
set(HEPAGENT_DEB_VERSION "${PROJECT_VERSION}-${CPACK_DEBIAN_PACKAGE_RELEASE}")
string(TIMESTAMP HEPAGENT_DEB_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
configure_file(${CMAKE_CURRENT_SOURCE_DIR}/conf/deb/changelog.in
               ${CMAKE_CURRENT_BINARY_DIR}/changelog.Debian @ONLY)
add_custom_command(
  OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/changelog.Debian.gz
  COMMAND gzip -9nf -k ${CMAKE_CURRENT_BINARY_DIR}/changelog.Debian
  DEPENDS ${CMAKE_CURRENT_BINARY_DIR}/changelog.Debian)
add_custom_target(deb_changelog ALL DEPENDS ${CMAKE_CURRENT_BINARY_DIR}/changelog.Debian.gz)
install(FILES ${CMAKE_CURRENT_SOURCE_DIR}/conf/deb/copyright
              ${CMAKE_CURRENT_BINARY_DIR}/changelog.Debian.gz
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
include(CPack)
