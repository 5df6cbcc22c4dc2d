# lb_module(name [DEPS ...] [EXCLUDE file...] [EMBED_LUA])
# Builds src/<name>/*.c into the static library lb_<name>. With EMBED_LUA,
# src/<name>/*.lua are embedded as C strings (see cmake/embed_lua.cmake).
function(lb_module name)
  cmake_parse_arguments(M "EMBED_LUA" "" "DEPS;EXCLUDE" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/${name}/*.c)
  foreach(ex ${M_EXCLUDE})
    list(REMOVE_ITEM srcs ${PROJECT_SOURCE_DIR}/src/${name}/${ex})
  endforeach()
  if(M_EMBED_LUA)
    file(GLOB luas CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/${name}/*.lua)
    set(out ${CMAKE_CURRENT_BINARY_DIR}/embedded_${name}.c)
    add_custom_command(OUTPUT ${out}
      COMMAND ${CMAKE_COMMAND} -DOUT=${out} "-DFILES=${luas}"
              -P ${PROJECT_SOURCE_DIR}/cmake/embed_lua.cmake
      DEPENDS ${luas} ${PROJECT_SOURCE_DIR}/cmake/embed_lua.cmake
      COMMENT "Embedding Lua helpers of ${name}")
    list(APPEND srcs ${out})
  endif()
  if(NOT srcs)
    # A module folder that has no code yet still gets its target.
    set(srcs ${PROJECT_SOURCE_DIR}/cmake/empty.c)
  endif()
  add_library(lb_${name} STATIC ${srcs})
  target_include_directories(lb_${name} PUBLIC ${PROJECT_SOURCE_DIR}/include
                             PRIVATE ${PROJECT_SOURCE_DIR}/src/${name})
  if(M_DEPS)
    target_link_libraries(lb_${name} PUBLIC ${M_DEPS})
  endif()
endfunction()
