# embed.cmake -- turns the files of web/ into a C source: one byte array per
# file and a table of them (src/api_web.h), so that the ursa binary serves
# its pages with nothing beside it.
#   cmake -DOUT=web_assets.c -DDIR=web -DFILES="a.html;b.js" -P embed.cmake
set(c "/* Made by cmake/embed.cmake from web/: do not edit. */\n#include \"api_web.h\"\n\n")
set(table "")
set(i 0)
foreach(f ${FILES})
  file(READ ${DIR}/${f} hex HEX)
  file(SIZE ${DIR}/${f} n)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
  string(APPEND c "static const unsigned char a${i}[] = {\n${bytes}0};\n")
  string(APPEND table "    {\"${f}\", a${i}, ${n}},\n")
  math(EXPR i "${i} + 1")
endforeach()
string(APPEND c "\nconst api_web_asset_t api_web_assets[] = {\n${table}    {0, 0, 0}, /* C has no empty array */\n};\nconst size_t api_web_nassets = ${i};\n")
file(WRITE ${OUT}.tmp "${c}")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUT}.tmp)
