# qf_add_firmware(NAME SOURCE [DEPENDS...]): assemble a flat guest image with nasm into
# ${CMAKE_BINARY_DIR}/firmware/NAME.bin and expose it as target fw_NAME.
function(qf_add_firmware name source)
  set(out ${CMAKE_BINARY_DIR}/firmware/${name}.bin)
  get_filename_component(dir ${source} DIRECTORY)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/firmware
    COMMAND ${QF_NASM} -f bin -w+all -w+error -I ${dir}/ -I ${PROJECT_SOURCE_DIR}/tests/firmware/ -o ${out} ${source}
    DEPENDS ${source} ${ARGN}
    COMMENT "nasm ${name}.bin"
    VERBATIM)
  add_custom_target(fw_${name} ALL DEPENDS ${out})
endfunction()
