# Compiler warnings (STYLE.md section 11). WERROR=ON adds -Werror (CI).
set(MTASTSD_WARNINGS -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes
	-Wmissing-prototypes -Wvla -Wno-unused-parameter)
if(WERROR)
	list(APPEND MTASTSD_WARNINGS -Werror)
endif()
add_compile_options(${MTASTSD_WARNINGS})
