# Turns a text file into a C string: cmake -DIN=file -DOUT=file.c -P embed.cmake
file(READ ${IN} content HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," content "${content}")
file(WRITE ${OUT} "/* generated from conf/hepagent.json by scripts/embed.cmake */\n"
  "#include \"hepagent/config.h\"\n"
  "const char config_default_json[] = {${content} 0x00};\n")
