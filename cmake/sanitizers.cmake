# SANITIZE=ON: AddressSanitizer + UndefinedBehaviorSanitizer for every target.
if(SANITIZE)
	add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
		-fno-sanitize-recover=undefined)
	add_link_options(-fsanitize=address,undefined)
endif()
if(FUZZ)
	if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
		message(FATAL_ERROR "FUZZ=ON needs clang: cmake -DCMAKE_C_COMPILER=clang")
	endif()
	add_compile_options(-fsanitize=fuzzer-no-link,address,undefined)
	add_link_options(-fsanitize=address,undefined)
endif()
