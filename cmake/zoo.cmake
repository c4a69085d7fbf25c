# Embeds every zoo/*.prototxt into the library, so `convergy info resnet50` works from any folder.
file(GLOB zoo_files CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/zoo/*.prototxt)
set(zoo_cpp ${PROJECT_BINARY_DIR}/generated/zoo_data.cpp)
add_custom_command(
  OUTPUT ${zoo_cpp}
  COMMAND ${CMAKE_COMMAND} -DOUT=${zoo_cpp} -DZOO_DIR=${PROJECT_SOURCE_DIR}/zoo -P ${PROJECT_SOURCE_DIR}/cmake/embed_zoo.cmake
  DEPENDS ${zoo_files} ${PROJECT_SOURCE_DIR}/cmake/embed_zoo.cmake
  COMMENT "Embedding the model zoo")
add_library(convergy_zoo STATIC ${PROJECT_SOURCE_DIR}/src/zoo/zoo.cpp ${PROJECT_SOURCE_DIR}/src/zoo/nb201.cpp ${PROJECT_SOURCE_DIR}/src/zoo/probe.cpp ${zoo_cpp})
add_library(convergy::zoo ALIAS convergy_zoo)
target_include_directories(convergy_zoo PUBLIC ${PROJECT_SOURCE_DIR}/src)
target_compile_options(convergy_zoo PRIVATE ${CONVERGY_WARNINGS})
target_link_libraries(convergy_zoo PUBLIC convergy::util)  # fmt, for the NB201 generator
